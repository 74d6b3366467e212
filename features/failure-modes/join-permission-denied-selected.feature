@failure-mode @scenario-join-permission-denied-selected
Feature: Join permission denied selected
  Joining is limited to a selected group the user is not in; DRS refuses the join with 801c03ed.
  Guide section: You cannot join this device

  Scenario: Join permission denied selected: the symptom
    Given the scenario "join-permission-denied-selected"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "801c03ed"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Join permission denied selected: the fix repairs it
    Given the scenario "join-permission-denied-selected"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
