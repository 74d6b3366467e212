Feature: Join a Windows 11 PC to Microsoft Entra ID from Settings
  A user with a valid Entra account joins their PC through Access work or school,
  completes password and MFA, restarts and signs in with the Entra account.

  Background:
    Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"
    And a licensed user "adele.vance@contoso.com" with the password "Blue-Harbor-42"
    And a Windows 11 PC that is not joined

  Scenario: Join through Access work or school, step by step
    When I open Settings
    And I go to Accounts
    And I select Access work or school
    And I click Connect
    And I select Join this device to Microsoft Entra ID
    And I enter the email "adele.vance@contoso.com"
    And I enter the password "Blue-Harbor-42"
    And I approve the sign-in request
    Then I see "Make sure this is your organization"
    When I click Join
    Then I see "You're all set!"
    When I click Done
    Then the connected account appears under Access work or school

  Scenario: Restart and sign in with the Entra account
    When I join this device to Microsoft Entra ID as "adele.vance@contoso.com"
    And I restart the device
    And I sign in as "adele.vance@contoso.com" using Other user
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "DomainJoined : NO"
    And the output shows "AzureAdPrt : YES"
